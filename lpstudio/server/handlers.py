"""The REST API's handlers: thin translations of HTTP requests into `Studio` calls.

Every handler gets its `Route` (see `routes.py`), which names, per method, the permission
it needs and the JSON Schemas of its body and query. `BaseHandler.prepare` checks them all
before the method runs (through `check_caller`: for `UserHandler` the Jupyter user (401),
their role (403), the query and the body (400)). So a refused request never reaches the
`Studio`, and changes nothing. A CORS preflight (OPTIONS) from an origin Jupyter allows
(`ServerApp.allow_origin`, `allow_origin_pat`) gets Jupyter's own answer
(`APIHandler.options`), before any credential: it carries none.

Every error answer has one shape, `{"error": {"code", "message", "field", "fix"}}`, and never
a traceback: `InputError` is 400, `NotFoundError` 404, a forbidden role 403, no user 401. Its
fix names this API's routes where the error's names the CLI's commands (`fixes.py`). It and
the lines the server logs of it show no connection's secret, even where they quote what the
caller sent (`BaseHandler.hidden`).
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import re
import traceback
from http.client import responses
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast
from urllib.parse import quote, unquote, urlencode

import nbformat
from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from sqlalchemy.exc import OperationalError
from tornado import web

from .. import strictjson
from ..errors import (
    ConflictError,
    DeliveryError,
    InputError,
    LpstudioError,
    NotFoundError,
    RecipeError,
    SignatureError,
    WorkspaceError,
    quoted,
)
from ..idempotency import DELIVERY_ID_HEADERS, sent_once
from ..jobviews import cancel_to_dict, job_to_dict, listed_job, refreshed_job, rerun_warning
from ..jsonschemas import expected, first_error, first_problem, fix_in_words, problem_of
from ..redaction import Secrets, given_text, scrub, scrub_text
from ..roles import PERMISSIONS
from ..sdk import ConnectorError
from ..store import FINAL_STATES, MAX_INTEGER, job_id_in, not_a_job_id, unavailable
from ..studio import API_PATH, Studio
from .auth import (
    ApiError,
    api_token,
    api_token_header,
    check_role,
    no_person,
    one_credential,
    unknown_token,
)
from .output_html import OUTPUT_HTML_CSP, render_output_html
from .schemas import PROBLEM_REF, field_schema, without_nulls

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    import jsonschema
    from tornado.httputil import HTTPServerRequest

    from ..models import Job
    from ..recipe import Recipe
    from .app import LpstudioApp
    from .routes import Operation, Route

#: The API's routes, under the server's base URL; what a caller is told names them under it
#: (`LpstudioApp.api_root`).
PREFIX = API_PATH
T = TypeVar("T")


def parse_json(raw: bytes, what: str, fix: str) -> Any:
    """`raw` as strict JSON: Python's parser also takes NaN and Infinity, which no JSON
    client can read back, so a value holding them is refused like malformed JSON (400),
    with the fix for its cause (`strictjson.fix_for`); `fix` answers malformed JSON."""
    try:
        return strictjson.loads(raw)
    except ValueError as exc:  # UnicodeDecodeError too
        raise ApiError(
            400,
            "InputError",
            f"the {what} is not valid JSON: {exc}",
            field=what,
            fix=strictjson.fix_for(exc, fix),
        ) from None


def _utf8(raw: bytes, field: str, what: str) -> str:
    """`raw`, a query's percent-decoded name or value, as text: bytes that are no UTF-8 are
    refused (400) naming the field."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _not_utf8(raw, field, what) from None


def _not_utf8(raw: bytes, field: str, what: str, safe: str = "") -> ApiError:
    """The refusal of `raw`, percent-decoded bytes that are no UTF-8, naming the field and
    quoting them percent-encoded as they were sent (but the `safe` characters)."""
    return ApiError(
        400,
        "InputError",
        f"{what} is not UTF-8 text: {quote(raw[:60], safe=safe)}",
        field=field,
        fix="percent-encode the UTF-8 bytes of its text (é as %C3%A9)",
    )


def recipe_not_ready(exc: InputError, recipe: str | None = None) -> ApiError:
    """A bot's call met a recipe whose own settings are incomplete or broken, or whose
    notebook broke: not the caller's fault (503, which bots retry, told when as a webhook's
    sender is: `NOT_READY_RETRY_AFTER`). The bot is told the field at fault, not the recipe's
    path nor the routes that mend it, which are its admin's: the server's log says them
    (`ApiError.said`, naming the `recipe` where `exc` does not), as `GET /recipes` and
    `lpstudio recipes` do."""
    said = f"{exc.message}; fix: {exc.fix}" if exc.fix else exc.message
    return ApiError(
        503,
        "RecipeNotReady",
        "the recipe cannot run until its admin completes its settings or fixes its notebook",
        field=exc.field,
        fix="call again later: the studio's admin is told why in the server's log",
        headers={"Retry-After": str(NOT_READY_RETRY_AFTER)},
        said=f"recipe {recipe}: {said}" if recipe else said,
    )


#: The seconds a caller of a recipe not ready (a bot's call, a webhook's delivery) is told to
#: wait (`Retry-After`): its admin mends it in minutes, not at once.
NOT_READY_RETRY_AFTER = 60


def service_unavailable() -> ApiError:
    """503 to a caller who is no Jupyter user while the workspace cannot be served: nothing
    of why (the store's URL, the workspace's folder are its users'), but when to retry."""
    return ApiError(
        503,
        "ServiceUnavailable",
        "the service is unavailable for now",
        fix="try again shortly",
        headers={"Retry-After": "5"},
    )


def _code(status: int) -> str:
    """`Method Not Allowed` -> `MethodNotAllowed`: the error code of a plain HTTP error;
    a 404's is `NotFoundError`, as every other 404's (`NotFoundError`), so that a client
    branches on one code."""
    if status == 404:
        return NotFoundError.__name__
    return "".join(responses.get(status, "Error").title().split()).replace("-", "")


#: Answer headers a browser app of an allowed origin may read (CORS exposes only the simple
#: ones unless told).
EXPOSED_HEADERS = "Lpstudio-Job, Idempotent-Replayed, Retry-After, Content-Disposition, Allow"

#: Query parameters any request may carry for Jupyter's own checks (a token login, the
#: XSRF form field), beside those its route takes.
JUPYTER_QUERY = frozenset({"token", "_xsrf"})


def request_secrets(app: LpstudioApp, request: HTTPServerRequest) -> Secrets:
    """What an answer to `request`, and the server's lines of it, must not show, read once
    a request has failed or its line is written: they quote what the caller sent (a body's
    value that an input schema refuses, an object's key, the path of `/call/...`, a path or
    query no route takes), which is masked where it is kept (a call's or a delivery's event)
    and must be here too. The workspace's secrets and the server's token
    (`LpstudioApp.held_secrets`), the request's own API token (a caller that put it in its
    query or body had it quoted back, and logged), and another API client's token it sent
    (`_tokens_sent`). A secret's beginning in what the caller sent is no news to it, and is
    shown as sent (`Secrets`)."""
    own = api_token(request.headers)
    found = app.held_secrets() | _tokens_sent(app, request) | ({own} if own else set())
    return Secrets(found, _sent(request, found))


def _sent(request: HTTPServerRequest, hiding: frozenset[str]) -> str:
    """What the caller sent (its path, query and body, parsed and as sent), as
    `given_text` has it, `hiding` cut out."""
    body = request.body.decode("utf-8", "replace")
    try:
        parsed = json.loads(body) if body else None
    except (ValueError, RecursionError):  # refused by the request's own check
        parsed = None
    query = {
        key: [value.decode("utf-8", "replace") for value in values]
        for key, values in request.query_arguments.items()
    }
    return given_text(unquote(request.path), query, body, parsed, hiding=hiding)


def _tokens_sent(app: LpstudioApp, request: HTTPServerRequest) -> frozenset[str]:
    """The live API clients' tokens in the request's path, query and body, as a job's event
    masks them (`Studio.kept_event`); the store is read only for text of a token's shape."""
    if app.workspace_error is not None or not hasattr(app, "lpstudio_workspace"):
        return frozenset()
    sent = f"{request.uri}\n{request.body.decode('utf-8', 'replace')}"
    try:
        return frozenset(app.service.api_clients.live_tokens(sent))
    except Exception:  # the store's own failure: the error being answered says it
        return frozenset()


class BaseHandler(ExtensionHandlerMixin, APIHandler):
    """JSON in, JSON out, and every error in the API's one shape."""

    route: Route
    #: Jupyter's checks passed (host, user, origin): its CORS headers stand, on errors too.
    origin_checked: bool = False
    #: Jupyter's origin check refused the Origin header (its answer: a bare 404).
    origin_refused: bool = False
    #: The recipe a refusal is about where its route names none (a job's): its fix may need
    #: it (`fixes.in_rest_terms`).
    recipe_refused: str | None = None
    #: A part of the path that is no UTF-8 (`decode_argument`), refused once the caller is.
    path_refused: ApiError | None = None
    #: The caller's role, once known (a Jupyter user's): a fix whose action it may not take
    #: is said as a request to a role that may (`fixes.for_role`).
    role: str | None = None

    def initialize(self, name: str, route: Route | None = None) -> None:  # type: ignore[override]
        super().initialize(name)
        if route is not None:
            self.route = route

    @property
    def app(self) -> LpstudioApp:
        return self.extensionapp  # type: ignore[return-value]

    @property
    def operation(self) -> Operation:
        op = self.route.operations.get(self.request.method or "")
        if op is None:
            raise self.not_allowed()
        return op

    def is_preflight(self) -> bool:
        """A browser's CORS preflight: OPTIONS from an origin, asking for a method. Any other
        OPTIONS request is refused as any method a route does not take (405)."""
        headers = self.request.headers
        return (
            self.request.method == "OPTIONS"
            and "Origin" in headers
            and "Access-Control-Request-Method" in headers
        )

    def skip_check_origin(self) -> bool:
        """Never: Jupyter skips the origin check on a preflight (its answer then allows any
        origin that asks to send `Authorization`) and on a token-authenticated request (a
        page of any origin holding a token could read jobs and start runs). Every request
        is checked, so an origin Jupyter does not allow is refused (403, naming the fix)
        before anything runs; a script or bot sends no Origin, and passes."""
        return False

    def check_origin(self, origin_to_satisfy_tornado: str = "") -> bool:
        """Jupyter's origin check, unchanged; the origin it refuses is kept for the answer
        (`origin_not_allowed`)."""
        allowed = super().check_origin(origin_to_satisfy_tornado)
        self.origin_refused = not allowed
        return allowed

    def check_xsrf_cookie(self) -> None:
        """Jupyter's XSRF check, unchanged (skipped for a token in a header); its refusal
        (tornado's words for a form: "'_xsrf' argument missing from POST") said as the
        API says it, naming the header and the fix."""
        try:
            super().check_xsrf_cookie()
        except web.HTTPError as exc:
            if exc.status_code != 403:  # 404: an origin Jupyter refuses (`origin_refused`)
                raise
            if getattr(self, "_jupyter_current_user", None) is None:
                raise  # no login cookie at all: 401, naming the token (`write_error`)
            raise self.xsrf_refused() from None

    def xsrf_refused(self) -> ApiError:
        """A request authenticated by the login cookie, without the XSRF token that shows a
        page of this server sent it (or with another session's)."""
        headers = self.request.headers
        sent = headers.get("X-XSRFToken") or headers.get("X-CSRFToken")
        sent = sent or self.get_argument("_xsrf", None)
        return ApiError(
            403,
            "Forbidden",
            "the X-XSRFToken sent does not match this session's _xsrf cookie"
            if sent
            else "a request authenticated by the login cookie needs its XSRF token: none was sent",
            field="X-XSRFToken",
            fix="send the value of the `_xsrf` cookie in an X-XSRFToken header (as JupyterLab "
            "does), or authenticate with `Authorization: token <jupyter server token>` "
            "instead of the cookie",
        )

    def origin_not_allowed(self, origin: str) -> ApiError:
        """Jupyter refuses an origin it does not allow with a bare 404, as if the route did
        not exist: the API says 403 and how to allow it. A browser app of that origin can
        read neither (no Access-Control-Allow-Origin): the answer is for its developer, or
        a script that sent an Origin header."""
        return ApiError(
            403,
            "Forbidden",
            f"requests from the origin {origin[:200]!r} are not allowed by this server",
            field="Origin",
            fix="if its browser app may call the API, start the server with "
            f"--ServerApp.allow_origin={origin[:200]} (or a pattern that matches it in "
            "--ServerApp.allow_origin_pat); a script or bot sends no Origin header",
        )

    def set_cors_headers(self) -> None:
        """Jupyter's CORS headers for the origins it allows, and, for those, the answer
        headers its browser app may read besides the simple ones: a call's job, whether it
        was replayed, when to retry, a download's file name. Without `allow_origin` (or its
        pattern, or the header set in `tornado_settings`), Jupyter echoes the Origin of a
        token-authenticated request, an empty one without it: that echo is dropped."""
        super().set_cors_headers()
        configured = self.settings.get("headers", {})
        if not (self.allow_origin or self.allow_origin_pat) and (
            "Access-Control-Allow-Origin" not in configured
        ):
            self.clear_header("Access-Control-Allow-Origin")
        if "Access-Control-Allow-Origin" in self._headers:
            self.set_header("Access-Control-Expose-Headers", EXPOSED_HEADERS)

    def not_allowed(self) -> ApiError:
        allowed = ", ".join(self.route.operations)
        return ApiError(
            405,
            "MethodNotAllowed",
            f"{self.request.method} is not allowed on {self.request.path}",
            field="method",
            fix=f"use {allowed}",
            headers={"Allow": allowed},
        )

    async def prepare(self) -> None:  # type: ignore[override]
        await super().prepare()
        self.origin_checked = True
        route = getattr(self, "route", None)  # the catch-all 404 has none
        if route is not None and self.is_preflight():
            return  # a preflight from an allowed origin: `APIHandler.options` answers it
        if self.app.workspace_error is not None:
            await self.blocking(self.app.open_late)  # its store may be back
        await self.look_at_store()
        if self.app.workspace_error is not None or self.app.store_upgraded is not None:
            refusal = self.outsider_refusal()
            if refusal is not None:
                raise refusal
        if self.app.workspace_error is not None and self.app.store_down:
            # A store that could not be reached when the server started: opened later,
            # as one that went down while it served is answered (`write_error`).
            raise ApiError(
                503, "StoreUnavailable", headers={"Retry-After": "5"}, **self.app.workspace_error
            )
        if self.app.workspace_error is not None:
            raise ApiError(503, self.app.workspace_error_code, **self.app.workspace_error)
        if self.app.store_upgraded is not None:
            raise ApiError(
                503,
                "StoreUpgraded",
                f"the store was upgraded by a newer lpstudio to schema revision "
                f"{self.app.store_upgraded}: this server cannot read it",
                field="store",
                fix="install that lpstudio on this machine too and restart the server "
                "(README: Upgrading)",
            )
        if route is not None and self.request.method not in route.operations:
            raise self.not_allowed()  # before any credential: tornado's 405 names nothing
        await self.check_caller()
        if self.path_refused is not None:  # where `check_caller` did not refuse it
            raise self.path_refused

    def decode_argument(self, value: bytes, name: str | None = None) -> str:
        """A part of the path (`{recipe}`, a connection's `{name}`), or a query argument
        tornado reads, as text. tornado refused a path's part that is no UTF-8 (`%FF`)
        before `prepare`, with an empty 400 naming neither its field nor the fix: it is
        kept, percent-encoded as sent, and refused as the API refuses any input, once the
        caller has been checked (`prepare`). An argument Jupyter reads (`_xsrf`, `token`)
        got tornado's "Invalid unicode in _xsrf: b'\\xff'": it is refused at once, as a
        query `sent_query` reads is, naming it and the fix."""
        try:
            return super().decode_argument(value, name)
        except web.HTTPError:
            route = getattr(self, "route", None)
            if route is not None and name in re.findall(r"\{(\w+)\}", route.path):
                self.path_refused = _not_utf8(value, name, f"the {name} in the path", safe="/")
                return quote(value, safe="/")
            if name is None:
                raise
            in_query = value in self.request.query_arguments.get(name, ())
            raise _not_utf8(
                value, name, f"{'query parameter' if in_query else 'form field'} {name}"
            ) from None

    def outsider_refusal(self) -> ApiError | None:
        """What a caller who is no Jupyter user is told while the workspace cannot be served
        (its store unreachable or upgraded, or the workspace never activated): what it is
        told when it is served on a user's route (401), and elsewhere, where its API token
        or its webhook's signature cannot be checked, that the service is unavailable for
        now. Only Jupyter users are told why, with the field and the fix: the store's URL
        and the workspace's folder are for them, not for any caller of the server. None for
        a Jupyter user."""
        from .routes import USER

        if getattr(self, "_jupyter_current_user", None) is not None:
            return None
        route = getattr(self, "route", None)
        if route is not None and route.auth == USER and api_token(self.request.headers) is None:
            return self.unauthenticated()
        return service_unavailable()

    async def check_caller(self) -> None:
        """Refuses a caller the route does not serve (after Jupyter's checks and the
        route's methods; never for a route's preflight, which carries no credentials)."""

    async def look_at_store(self) -> None:
        """`LpstudioApp.look_at_store`, when due, before the request is served."""
        if self.app.workspace_error is None and self.app.store_look_due():
            await self.blocking(self.app.look_at_store)

    async def blocking(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        """Runs store and kernel work off the IOLoop."""
        return await self.app.blocking(func, *args, **kwargs)

    def answer(self, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self.set_status(status)
        for name, value in (headers or {}).items():
            self.set_header(name, value)
        self.finish(strictjson.dumps(data, default=str))

    # -- input -----------------------------------------------------------------------------

    def read_query(self, op: Operation, inputs: dict[str, str] | None = None) -> dict[str, Any]:
        """The declared query parameters, in their types. One the route does not take, or
        one given twice, is refused: a misspelt filter (`?stat=failed`) would otherwise
        list every job, and of two values one would be dropped unsaid. Given `inputs`, the
        others go there as sent instead (a call's input fields, which only its recipe's
        input schema can type or refuse): all of them, Jupyter's names too, since an API
        client authenticates by header only and JupyterLab never calls a recipe."""
        query = self.sent_query()
        for name, sent in query.items():
            jupyter = name in JUPYTER_QUERY or (name.isascii() and name.isdigit() and sent == [""])
            if jupyter and inputs is None:
                continue  # Jupyter's, or JupyterLab's cache buster on a GET (`?<ms>`)
            if name not in op.query and inputs is None:
                takes = ", ".join(sorted(op.query)) or "no query parameter"
                raise ApiError(
                    400,
                    "InputError",
                    f"unknown query parameter {quoted(name)}",
                    field=name,
                    fix=f"this route takes {takes}",
                )
            if len(sent) > 1:
                raise ApiError(
                    400,
                    "InputError",
                    f"query parameter {name} is given {len(sent)} times",
                    field=name,
                    fix=f"give {name} once",
                )
            if name not in op.query and inputs is not None:
                inputs[name] = sent[0]
        values: dict[str, Any] = {}
        for name, schema in op.query.items():
            if name not in query:
                if "default" in schema:
                    values[name] = schema["default"]
                continue
            raw = query[name][0]
            if raw == "":  # `?recipe=` was no filter at all: every recipe's jobs, unsaid
                raise ApiError(
                    400,
                    "InputError",
                    f"query parameter {name} is empty",
                    field=name,
                    fix=f"give {name} as {expected(schema)}, or leave it out",
                )
            value: Any = raw
            if schema.get("type") == "integer":
                # Digits only (int() takes " 1", "1_000" and "١" too); anything else stays
                # text, which the schema check names.
                value = int(raw) if re.fullmatch(r"-?[0-9]+", raw) else raw
            elif schema.get("type") == "boolean":
                value = {"true": True, "false": False}.get(raw, raw)
            problem = first_problem(schema, value)
            if problem is not None:
                raise ApiError(
                    400,
                    "InputError",
                    f"query parameter {name}={quoted(raw)}: {problem[1]}",
                    field=name,
                    fix=f"give {name} as {expected(schema)}",
                )
            values[name] = value
        return values

    def sent_query(self) -> dict[str, list[str]]:
        """The query's names and values as sent, read as UTF-8 here, as a JSON body is:
        tornado reads a name as Latin-1 (`?été=` is `Ã©tÃ©`), blanks a value's control
        characters (`%00x` reads " x") and refuses one that is not UTF-8 naming neither its
        field nor the fix."""
        sent: dict[str, list[str]] = {}
        for latin1, values in self.request.query_arguments.items():
            raw = latin1.encode("latin1")
            name = _utf8(raw, quote(raw, safe=""), "a query parameter's name")
            sent[name] = [_utf8(value, name, f"query parameter {name}") for value in values]
        return sent

    def read_json(self, what: str = "body") -> Any:
        """The request body as JSON (an empty body is None); malformed JSON is a 400."""
        raw = self.request.body
        if not raw or not raw.strip():
            return None
        return parse_json(raw, what, "send a JSON object with Content-Type: application/json")

    def read_body(self, op: Operation) -> dict[str, Any]:
        """The body, checked against the operation's schema (an empty body is `{}`); a file
        (`op.upload`) is left in `self.request.body` for the handler, once its size is."""
        if op.upload is not None:
            self.refuse_oversized(
                op.upload[1], "or import it with `lpstudio import` on the server's workspace"
            )
        if op.capped is not None:
            self.refuse_oversized(*op.capped)
        if op.body is None:
            return {}
        data = self.read_json() if self.request.body.strip() else {}
        error = first_error(op.body, data)
        if error is not None:
            field, message = problem_of(error)
            raise ApiError(
                400,
                "InputError",
                f"{field or 'body'}: {message}",
                field=field or "body",
                fix=self._body_fix(op.body, error, field),
            )
        return without_nulls(op.body, data)

    def _body_fix(
        self, schema: dict[str, Any], error: jsonschema.ValidationError, field: str | None
    ) -> str:
        """The fix for a body `schema` refuses at `field`: what the field's description
        says it takes (written for it: a quota's null for none, a name's example), else
        what the refusal itself says to give (`fix_in_words`); the request schema only
        where neither says more. A missing field is told to be added, with its description."""
        own = field_schema(schema, field)
        if own and "description" in own and error.validator != "required":
            return f"give {field} as {expected(own)}"
        return fix_in_words(error) or f"see the request schema in {self.app.api_root}/openapi.json"

    def refuse_oversized(self, setting: str, fix: str) -> None:
        """Refuses (413) a body larger than the `LpstudioApp` setting allows, naming it,
        before the body is parsed, stored or run."""
        limit = getattr(self.app, setting)
        if len(self.request.body) > limit:
            raise ApiError(
                413,
                "PayloadTooLarge",
                f"the body is {len(self.request.body)} bytes long",
                field="body",
                fix=f"send at most {limit} bytes (--LpstudioApp.{setting}); {fix}",
            )

    # -- errors ----------------------------------------------------------------------------

    @functools.cached_property
    def hidden(self) -> frozenset[str]:
        """The secrets this request's error answer and the lines logged of it must not
        show (`request_secrets`), read once a request has failed (or its line is logged)."""
        return request_secrets(self.app, self.request)

    def request_credentials(self) -> frozenset[str]:
        """The credentials this request carries, or might have put in its input: its API
        token (`API-TOKEN`, `Authorization: Bearer`) and the Jupyter server's token."""
        found = (api_token(self.request.headers), getattr(self.identity_provider, "token", ""))
        return frozenset(token for token in found if token)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = (kwargs.get("exc_info") or (None, None, None))[1]
        headers: dict[str, str] = {}
        if isinstance(exc, ApiError):
            status, error, headers = exc.status, exc.to_dict(), exc.headers
        elif isinstance(exc, NotFoundError):
            status, error = 404, exc.to_dict()
        elif isinstance(exc, ConflictError):  # its wait, when it knows it (a webhook's claim)
            wait = exc.retry_after or 5
            status, error, headers = 409, exc.to_dict(), {"Retry-After": str(wait)}
        elif isinstance(exc, ConnectorError):  # the app's failure or refusal, not the caller's
            status, error = 502, exc.to_dict()
            error["code"] = "AppError"
            error["field"] = error["field"] or "connection"
            # A connection's route names it; elsewhere (a recipe's poll) the connector's own
            # fix names it, else this one says where to find it (it said a made-up NAME).
            name = (getattr(self, "path_kwargs", None) or {}).get("name")
            error["fix"] = error["fix"] or (
                f"test the connection with POST {self.app.api_root}/connections/"
                f"{name or '<name>'}/test"
                + ("" if name else f" (GET {self.app.api_root}/connections lists them)")
                + ", then try again once the app answers"
            )
        elif isinstance(exc, LpstudioError):
            status, error = 400, exc.to_dict()
            error["code"] = type(exc).__name__
        elif isinstance(exc, OperationalError) and (refusal := self.outsider_refusal()):
            status, error, headers = refusal.status, refusal.to_dict(), refusal.headers
        elif isinstance(exc, OperationalError):  # the database stopped, stayed locked, disk full
            status, headers, error = 503, {"Retry-After": "5"}, unavailable(exc).to_dict()
        elif isinstance(exc, web.HTTPError) and status_code == 404 and self.origin_refused:
            origin = self.request.headers.get("Origin", "")
            status, error = 403, self.origin_not_allowed(origin).to_dict()
        elif isinstance(exc, web.HTTPError):
            status = exc.status_code
            message = None  # as written: `log_message` doubles each '%' of one without args
            with contextlib.suppress(TypeError, ValueError):  # arguments that miss its format
                message = exc.get_message()
            message = message or responses.get(status, "error")
            error = {"code": _code(status), "message": message, "field": None, "fix": None}
        else:
            status = 500
            error = {
                "code": "InternalError",
                "message": "the server failed to answer; the error is in its log",
                "field": None,
                "fix": None,
            }
        if (
            isinstance(exc, web.HTTPError)
            and exc.status_code == 403
            and getattr(self, "_jupyter_current_user", None) is None
        ):
            # Jupyter refuses an unknown user with 403: the API says who it takes.
            refusal = self.unauthenticated()
            status, error, headers = refusal.status, refusal.to_dict(), refusal.headers
        from .fixes import for_role, in_rest_terms

        # None before tornado read the path (a body it could not parse, say).
        path = getattr(self, "path_kwargs", None) or {}
        recipe = self.recipe_refused or (None if self.path_refused else path.get("recipe"))
        # Before it is masked:
        fix = in_rest_terms(error.get("fix"), recipe, self.app.api_root)
        error["fix"] = for_role(fix, self.role, self.app.api_root)
        error = scrub(error, self.hidden)
        # Naming the workspace's files by their path in it, and the workspace itself as
        # such: a caller (a bot, a browser app) learns nothing of the server's folders. The
        # server's log keeps the full paths.
        workspace = getattr(self.app, "lpstudio_workspace", None)
        if workspace is not None:
            error = workspace.shown_in(error)
        if self.origin_checked:  # `send_error` cleared them: a browser app reads its errors too
            self.set_cors_headers()
        self.set_status(status)
        for name, value in headers.items():
            self.set_header(name, value)
        self.finish(json.dumps({"error": error}, default=str))

    def unauthenticated(self) -> ApiError:
        return ApiError(
            401,
            "Unauthenticated",
            "no Jupyter user: log in, or send the server's token",
            field="Authorization",
            fix="send `Authorization: token <jupyter server token>`",
            headers={"WWW-Authenticate": "token"},
        )

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        """A refusal as one line (a warning where the admin is to act: `ApiError.said`),
        tornado's own errors as a warning, anything else with its traceback (as tornado
        logs them), the workspace's secrets masked in each, as in the answer."""
        if isinstance(value, OperationalError):
            # The connections' secrets cannot be read from a store that is down: what the
            # answer and this line quote is masked by the store's own password.
            found = self.app.service.store.secrets | self.request_credentials()
            self.__dict__["hidden"] = Secrets(found, _sent(self.request, found))
        where = scrub_text(f"{self.request.method} {self.request.path}", self.hidden)
        if isinstance(value, OperationalError):
            said = scrub_text(unavailable(value).message, self.hidden)
            self.log.warning("503 %s: %s", where, said)
        elif isinstance(value, ApiError) and value.said:
            said = scrub_text(value.said, self.hidden)
            self.log.warning("%d %s (%s): %s", value.status, where, value.code, said)
        elif isinstance(value, ApiError | LpstudioError):
            self.log.info("%s: %s", where, scrub_text(str(value), self.hidden))
        elif isinstance(value, web.HTTPError):
            if value.log_message:
                said = scrub_text(value.get_message(), self.hidden)
                self.log.warning("%d %s: %s", value.status_code, where, said)
        else:
            said = "".join(traceback.format_exception(typ, value, tb))
            self.log.error("Uncaught exception %s\n%s", where, scrub_text(said, self.hidden))


class UserHandler(BaseHandler):
    """A route for Jupyter users: their `Studio`, role-checked, with checked input."""

    studio: Studio
    query: dict[str, Any]
    body: dict[str, Any]

    async def check_caller(self) -> None:
        await self.prepare_user()

    def unauthenticated(self) -> ApiError:
        """An API client's token is refused here (403), not asked for a login (401): a
        bot's engineer is never sent for the server's token, which would make the bot a
        user of the workspace."""
        header = api_token_header(self.request.headers)
        if header is None:
            return super().unauthenticated()
        api = self.app.api_root
        return ApiError(
            403,
            "Forbidden",
            f"an API client's token reaches only {api}/call/<path>, {api}/calls/<job> and "
            f"{api}/openapi.json",
            field=header,
            fix=f"call a callable recipe at POST {api}/call/ENDPOINT; the other routes need "
            "a user of the workspace",
        )

    def answer(self, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        """`data` with what lpstudio stored in the CLI's terms (a settings problem's fix, a
        connection's test status, a recipe's trigger errors, a job's error) said in the
        API's, and as the caller's role can follow it, as an error answer's fix is
        (`fixes.answer_in_rest_terms`)."""
        from .fixes import answer_in_rest_terms

        said = answer_in_rest_terms(data, self.app.api_root, role=self.role)
        super().answer(said, status, headers)

    async def prepare_user(self) -> None:
        """The Jupyter user's studio and role, and the request's checked input."""
        if self.current_user is None:
            raise self.unauthenticated()
        op = self.operation
        name = self.app.user_name(self.current_user, self.identity_provider)
        refused = no_person(name)
        if refused is not None:
            raise refused
        self.studio = await self.blocking(self.app.studio_for, name)
        self.role = await self.blocking(lambda: self.studio.role)
        check_role(self.role, op.permission, op.action)
        if self.path_refused is not None:  # the path first, then the query and the body
            raise self.path_refused
        self.query = self.read_query(op)
        self.body = self.read_body(op)
        for given, (permission, action) in op.field_permissions.items():
            if self.body.get(given) is not None:
                check_role(self.role, permission, action)

    def job(
        self, job: Any, waits: str | None = None, sends: dict[str, int] | None = None
    ) -> dict[str, Any]:
        return job_to_dict(job, self.studio.workspace, waits, sends)


class NoXsrfHandler(BaseHandler):
    """Callers that are not Jupyter users (bots, webhook senders): their credentials travel
    in headers, never in cookies, so cross-site request forgery cannot borrow them."""

    def check_xsrf_cookie(self) -> None:
        return None

    async def check_caller(self) -> None:
        self.refuse_oversized(
            "max_body_bytes", "put larger data where the recipe can read it, and send its reference"
        )


class ClientHandler(NoXsrfHandler):
    """A route for API clients: a live token, within the client's rate limit and quota."""

    client: dict[str, Any]
    #: Whether the query parameters its route does not declare are input fields (`inputs`)
    #: rather than refused.
    input_query: bool = False
    inputs: dict[str, str]
    #: The caller hung up before its answer (`calls._had_answer`).
    gone = False

    def on_connection_close(self) -> None:
        self.gone = True
        super().on_connection_close()

    def delivered(self) -> bool:
        """Whether the caller is still there to be answered."""
        return not self.gone

    def set_default_headers(self) -> None:
        """Every answer, errors too, is one call's (or one poll's): no cache may keep it for
        the next, which runs the recipe again."""
        super().set_default_headers()
        self.set_header("Cache-Control", "no-store")

    def compute_etag(self) -> str | None:
        """None: tornado's Etag on a GET would let a client holding it be answered 304 with
        no body, after its call's job ran (an answer has a JSON body)."""
        return None

    async def check_caller(self) -> None:
        await super().check_caller()
        op = self.operation
        one_credential(self.request.headers)
        token = api_token(self.request.headers)
        client = (
            await self.blocking(self.app.service.api_clients.for_token, token) if token else None
        )
        if client is None:
            raise unknown_token(self.request.headers)
        await self.blocking(
            self.app.limits.check,
            client["name"],
            client["rate_per_minute"],
            client["quota_per_day"],
        )
        self.client = client
        self.inputs = {}
        self.query = self.read_query(op, self.inputs if self.input_query else None)


# -- recipes -------------------------------------------------------------------------------


class RecipesHandler(UserHandler):
    @web.authenticated
    async def get(self) -> None:
        """`?project=` is read as an export reads it (`projects/shop` is `shop`, `.` every
        project): one that is no project folder is refused (400), not listed empty."""
        from ..packages import project_folder

        def listed() -> list[dict[str, Any]]:
            folder = project_folder(
                self.studio, self.query["project"], must_exist=True, field="project", typed=True
            )[1]
            rows = self.studio.recipes()
            if folder == ".":
                return rows
            return [
                r for r in rows if r["project"] == folder or r["project"].startswith(f"{folder}/")
            ]

        self.answer({"recipes": await self.blocking(listed)})


class RecipeHandler(UserHandler):
    @web.authenticated
    async def get(self, recipe: str) -> None:
        self.answer(await self.blocking(self.studio.recipe_detail, recipe))


def parsed(body: dict[str, Any]) -> set[str]:
    """The parameters `body` gives as text to read as `-p` reads it (its `parse`): each one
    named must be given, as text, or `str()` would make text of a typed value."""
    given = body.get("parameters") or {}
    for name in body.get("parse", ()):
        if not isinstance(given.get(name), str):
            raise ApiError(
                400,
                "InputError",
                f"parse names '{name}', which parameters "
                + ("gives as no text" if name in given else "does not give"),
                field=f"parameters.{name}",
                fix=f"give parameters.{name} as text, or leave '{name}' out of parse",
            )
    return set(body.get("parse", ()))


class RecipeSettingsHandler(UserHandler):
    #: What its answer holds besides the recipe (GET /recipes/{recipe}), as the OpenAPI
    #: document describes it: what was saved and will fail, as `lpstudio settings` warns.
    answer_fields: ClassVar[dict[str, Any]] = {
        "warnings": {
            "type": "array",
            "items": PROBLEM_REF,
            "description": "what was saved, and will fail as it is (e.g. a text template "
            "that cannot fill the handoff's placeholders, or a call timeout past what a "
            "Conversation Builder bot waits), and each value saved for a parameter the "
            "notebook no longer declares that the save forgot unasked, each naming its field "
            "and fix; empty when none",
        }
    }

    @web.authenticated
    async def put(self, recipe: str) -> None:
        body = self.body

        def save() -> dict[str, Any]:
            name = self.studio.find_recipe(recipe).name
            reset = list(body.get("reset", ()))
            if "call_timeout" in body and body["call_timeout"] is None:
                reset.append("call_timeout")  # null: back to the server's
            try:
                warnings = self.studio.save_settings(
                    name,
                    body.get("parameters"),
                    parse=parsed(body),
                    connections=body.get("connections"),
                    since=body.get("since"),
                    reset=reset,
                    notify=body.get("notify"),
                    expected_revision=body.get("revision"),
                    call_timeout=body.get("call_timeout"),
                )["warnings"]
            except ConflictError as exc:  # no Retry-After: the same body is refused again
                raise ApiError(
                    409, "ConflictError", exc.message, field=exc.field, fix=exc.fix
                ) from None
            detail = self.studio.recipe_detail(name)
            return {**detail, "warnings": [warning.to_dict() for warning in warnings]}

        self.answer(await self.blocking(save))


class RecipeVersionsHandler(UserHandler):
    @web.authenticated
    async def get(self, recipe: str) -> None:
        name = await self.blocking(self.studio.find_versioned, recipe)
        self.answer({"versions": await self.blocking(self.studio.versions, name)})


class RecipeRestoreHandler(UserHandler):
    @web.authenticated
    async def post(self, recipe: str) -> None:
        name = await self.blocking(self.studio.find_versioned, recipe)
        self.answer(await self.blocking(self.studio.restore, name, self.body["version"]))


class RecipeStartHandler(UserHandler):
    @web.authenticated
    async def post(self, recipe: str) -> None:
        name = (await self.blocking(self.studio.find_recipe, recipe)).name
        await self.blocking(self.studio.start, name, self.body.get("reset_since"))
        self.answer(await self.blocking(self.studio.recipe_detail, name))


class RecipeStopHandler(UserHandler):
    @web.authenticated
    async def post(self, recipe: str) -> None:
        name = await self.blocking(self.studio.find_stoppable, recipe)
        stopped = await self.blocking(self.studio.stop, name)
        try:
            self.answer(await self.blocking(self.studio.recipe_detail, name))
        except RecipeError as exc:  # a broken recipe is stopped all the same
            self.answer({"recipe": name, "state": stopped["state"], "problem": exc.to_dict()})
        except NotFoundError:  # so is one whose notebook is gone: only its settings are left
            self.answer({"recipe": name, "state": stopped["state"], "problem": None})


class RecipeRunHandler(UserHandler):
    @web.authenticated
    async def post(self, recipe: str) -> None:
        body = self.body

        def run() -> Any:
            name = self.studio.find_recipe(recipe).name
            job, _ = self.studio.dispatch(
                name,
                body.get("parameters"),
                parse=parsed(body),
                event=body.get("event"),
                timeout=body.get("timeout"),
            )
            return job

        job = await self.blocking(run)
        self.answer(self.job(job), 202, {"Location": f"{self.app.api_root}/jobs/{job.id}"})


class RecipeTestHandler(UserHandler):
    @web.authenticated
    async def post(self, recipe: str) -> None:
        body = self.body

        def test() -> Any:
            name = self.studio.find_recipe(recipe).name
            job, _ = self.studio.dispatch(
                name, body.get("parameters"), parse=parsed(body), event=body.get("event"), test=True
            )
            return job

        job = await self.blocking(test)
        self.answer(self.job(job), 202, {"Location": f"{self.app.api_root}/jobs/{job.id}"})


class RecipePollHandler(UserHandler):
    @web.authenticated
    async def post(self, recipe: str) -> None:
        """Poll now, as `lpstudio poll`: the server runs the jobs it queues, as it runs a
        Run now's, even while the recipe is stopped, and retries or reports them as a
        scheduler does its poll's (`Studio.dispatch_poll`)."""

        def poll() -> dict[str, Any]:
            warnings: list[InputError] = []
            polled = self.studio.dispatch_poll(self.studio.find_recipe(recipe).name, warnings)
            return {
                "jobs": [listed_job(job, self.studio.workspace) for job, _ in polled],
                "warnings": [warning.to_dict() for warning in warnings],
            }

        self.answer(await self.blocking(poll), 202)


class PackagesHandler(UserHandler):
    """A project folder exported as a package (`lpstudio export`), and a package imported
    (`lpstudio import`): the zip is the answer's body, or the request's."""

    @web.authenticated
    async def get(self) -> None:
        from ..packages import export_project

        def export() -> tuple[bytes, str]:
            out = io.BytesIO()  # written whole before anything is sent: a refusal is a 400
            done = export_project(self.studio, self.query["project"], out, field="project")
            name = PurePosixPath(done["folder"]).name
            return out.getvalue(), name if name != "." else self.studio.workspace.root.name

        package, name = await self.blocking(export)
        # The export's summary stays in the package (its manifest): headers are no place
        # for a list as long as the project.
        self.set_header("Content-Disposition", _attachment(f"{name}.zip"))
        self.finish(package, set_content_type="application/zip")

    @web.authenticated
    async def post(self) -> None:
        from ..packages import import_project

        done = await self.blocking(
            import_project,
            self.studio,
            io.BytesIO(self.request.body),
            into=self.query.get("into"),
            replace=self.query["replace"],
        )
        done.pop("package")  # the file's path: an upload has none
        where = f"{self.app.api_root}/recipes?project={quote(done['into'])}"
        self.answer(done, 201, {"Location": where})


def _attachment(filename: str) -> str:
    """A download's Content-Disposition: the name as it is for browsers that read RFC 6266's
    `filename*`, and in ASCII (without quotes) for those that do not."""
    plain = "".join(c if c.isascii() and c not in '"\\' else "_" for c in filename)
    if plain == filename:
        return f'attachment; filename="{filename}"'
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(filename, safe='')}"


# -- jobs ----------------------------------------------------------------------------------


class JobsHandler(UserHandler):
    @web.authenticated
    async def get(self) -> None:
        from ..times import parse_moment

        q = self.query
        since = parse_moment(q["since"], "since") if q.get("since") else None
        try:
            if q.get("recipe"):  # a path on the server: `jobs --recipe` takes one, REST not
                self.studio.workspace.refuse_server_path(q["recipe"])
            jobs = await self.blocking(
                self.studio.jobs,
                q.get("recipe"),
                q.get("status"),
                since,
                q["limit"] + 1,  # one more than the page: whether a next one follows
                q["offset"],
                q.get("before"),
                listed=True,
                project=q.get("project"),
            )
        except WorkspaceError as exc:  # a recipe filter that names no recipe lists no jobs
            if exc.field != "recipe":
                raise
            # Its code as a recipe route's answer says it (one refusal, one code to branch on).
            raise ApiError(
                400, type(exc).__name__, exc.message, field="recipe", fix=exc.fix
            ) from None
        page = jobs[: q["limit"]]
        rows = await self.blocking(self.studio.listed_jobs, page)
        after = self._next_page(since, page[-1].id) if len(jobs) > len(page) else None
        answer = {"jobs": rows, "limit": q["limit"], "offset": q["offset"], "next": after}
        self.answer(answer, headers={"Link": f'<{after}>; rel="next"'} if after else None)

    def _next_page(self, since: datetime | None, last: int) -> str:
        """The next page's path: these filters after the page's `last` job (`before`, which
        jobs queued meanwhile do not shift), `since` as the moment it was read (`7d` read
        again later would move)."""
        q = self.query
        kept = {name: q.get(name) for name in ("recipe", "project", "status")}
        kept["limit"] = q["limit"]
        kept["since"] = since.isoformat() if since else None
        given = {name: value for name, value in kept.items() if value is not None}
        return f"{self.app.api_root}/jobs?{urlencode({**given, 'before': last})}"


def job_number(job_id: str, fix: str) -> int:
    """The job a path names (`routes._JOB`: any whole number): one that can be no job is
    refused naming it, as `lpstudio show` refuses it, where past the store's largest integer
    the database raised OverflowError."""
    number = job_id_in(job_id)
    if number is None:
        raise ApiError(400, "InputError", not_a_job_id(job_id), field="job_id", fix=fix)
    return number


class JobRouteHandler(UserHandler):
    """A route of one job, which names no recipe: a refusal's fix may need the job's (a
    purged job's rerun says to run its recipe anew)."""

    async def of_job(self, action: Callable[[int], T], job_id: str) -> T:
        """`action` done on the job, off the IOLoop; refused, the job's recipe is kept for
        the fix (`recipe_refused`)."""
        number = job_number(
            job_id,
            f"give a job's number, from 1 to {MAX_INTEGER}, as GET "
            f"{self.app.api_root}/jobs lists it",
        )

        def act() -> T:
            try:
                return action(number)
            except LpstudioError:
                with contextlib.suppress(LpstudioError, OperationalError):  # none: no job
                    self.recipe_refused = self.studio.job(number).recipe
                raise

        return cast(T, await self.blocking(act))


class JobHandler(JobRouteHandler):
    @web.authenticated
    async def get(self, job_id: str) -> None:
        listed = self.query["listed"]
        job = await self.of_job(functools.partial(self.studio.job, listed=listed), job_id)
        waits = await self.blocking(self.studio.waits, job)
        sends = await self.blocking(self.studio.sends, job)
        if listed:
            self.answer(refreshed_job(job, self.studio.workspace, waits, sends))
        else:
            self.answer(self.job(job, waits, sends))


def _no_output(job: Job, api: str, waits: str | None) -> NotFoundError:
    """Why a job has no output notebook to fetch, and the fix its state calls for (naming
    the routes under `api`): one still to run is waited for, unless it waits for its
    stopped recipe (`Studio.waits`: waiting is in vain), a purged one's was erased, one
    moved away can be put back, and one that ended before its notebook ran never had any
    (its error says why)."""
    said = f"job {job.id} has no output notebook"
    held, _, fix = (waits or "").partition(": ")  # a retry's due time has no ": "
    if fix:  # its recipe stopped: what starts it or drops the job
        return NotFoundError(f"{said} yet ({job.status}: {held})", field="job", fix=fix)
    if job.purged:
        fix = (
            "none to fetch: a purged job's output was erased after the retention period "
            "([jobs] retention_days)"
        )
        return NotFoundError(f"{said} ({job.status}, purged)", field="job", fix=fix)
    if job.status not in FINAL_STATES:
        fix = f"wait until the job runs: GET {api}/jobs/{job.id} shows its progress"
        state = f"{job.status}: {held}" if held else job.status  # a retry: when it is due
        return NotFoundError(f"{said} yet ({state})", field="job", fix=fix)
    if job.output_path:
        return NotFoundError(
            f"job {job.id}'s output notebook {job.output_path} is missing ({job.status})",
            field="job",
            fix="it was moved or deleted from history/: put it back there to fetch it",
        )
    why = (job.error or {}).get("evalue")
    return NotFoundError(
        f"{said} ({job.status}): it ended before its notebook ran" + (f" ({why})" if why else ""),
        field="job",
        fix=f"none was written; to run its notebook, POST {api}/jobs/{job.id}/rerun",
    )


def _notebook_read(job: Job, path: Path) -> tuple[str, nbformat.NotebookNode]:
    """The output notebook's text and what it parses to, read once as a valid notebook
    (what is served is what was checked): a file put in its place that is none (text,
    binary, JSON of another shape) is said so, without quoting what it holds (it was
    served as a notebook, or the HTML page answered 500)."""
    try:
        text = path.read_text(encoding="utf-8")
        notebook = nbformat.reads(text, as_version=4)
        nbformat.validate(notebook)
    except (ValueError, AttributeError, TypeError, KeyError, nbformat.ValidationError):
        raise NotFoundError(
            f"job {job.id}'s output notebook {job.output_path} is no notebook nbformat can read",
            field="job",
            fix="put the job's own output notebook back in its place in history/",
        ) from None
    return text, notebook


class JobOutputHandler(JobRouteHandler):
    """The output notebook, as the .ipynb file or rendered by nbconvert's HTMLExporter.

    The HTML page is served under its own policy (`OUTPUT_HTML_CSP`), not the API's
    `default-src 'none'`, which would block the inline styles that make it look like a
    notebook."""

    @web.authenticated
    async def get(self, job_id: str, kind: str) -> None:
        def read(number: int) -> tuple[str, nbformat.NotebookNode]:
            job = self.studio.job(number)
            path = self.studio.workspace.root / job.output_path if job.output_path else None
            if path is None or not path.is_file():
                raise _no_output(job, self.app.api_root, self.studio.waits(job))
            if not path.resolve().is_relative_to(self.studio.workspace.history.resolve()):
                raise NotFoundError(  # a link put in its place (to secret.key, /etc/passwd)
                    f"job {job.id}'s output notebook {job.output_path} leads out of the "
                    "history folder ([history] path): only notebooks in it are served",
                    field="job",
                    fix="put the job's own output notebook back in its place in history/, "
                    "not a link",
                )
            if kind == "html":
                self.refuse_unviewable(job, path.stat().st_size)
            return _notebook_read(job, path)

        content, notebook = await self.of_job(read, job_id)
        if kind == "html":
            async with self.app.html_renders:  # each render may take seconds and much memory
                content = await self.blocking(render_output_html, notebook)
            self.set_header("Content-Security-Policy", OUTPUT_HTML_CSP)
        kinds = {"ipynb": "application/x-ipynb+json", "html": "text/html; charset=UTF-8"}
        self.set_header("Content-Disposition", f'inline; filename="job-{job_id}.{kind}"')
        self.finish(content, set_content_type=kinds[kind])

    def refuse_unviewable(self, job: Job, size: int) -> None:
        """Refuses (413) to render an output notebook larger than
        `LpstudioApp.max_output_view_bytes`, before it is read: its .ipynb is the way to it."""
        limit = self.app.max_output_view_bytes
        if size > limit:
            raise ApiError(
                413,
                "OutputTooLarge",
                f"job {job.id}'s output notebook is {size} bytes, over the {limit} bytes the "
                "server renders as HTML",
                field="kind",
                fix=f"download it as it is: GET {self.app.api_root}/jobs/{job.id}/output.ipynb "
                "(Open output in JupyterLab), or raise --LpstudioApp.max_output_view_bytes",
            )


class JobRerunHandler(JobRouteHandler):
    @web.authenticated
    async def post(self, job_id: str) -> None:
        """The new job, with the warning the CLI prints before a rerun: it may repeat sends.
        A `timeout` in the body replaces the job's own (checked as a run's)."""
        timeout = self.body.get("timeout")
        job, _ = await self.of_job(lambda n: self.studio.dispatch_rerun(n, timeout), job_id)
        answer = {**self.job(job), "warning": rerun_warning(self.studio.store.job(int(job_id)))}
        self.answer(answer, 202, {"Location": f"{self.app.api_root}/jobs/{job.id}"})


class JobCancelHandler(JobRouteHandler):
    @web.authenticated
    async def post(self, job_id: str) -> None:
        """The job and what the cancel did (`cancel`), as `lpstudio cancel --json` says it."""
        job, outcome = await self.of_job(self.studio.request_cancel, job_id)
        self.answer(cancel_to_dict(job, outcome, self.studio.workspace))


# -- gallery -------------------------------------------------------------------------------


class GalleryHandler(UserHandler):
    @web.authenticated
    async def get(self) -> None:
        gallery = await self.blocking(self.studio.gallery)
        self.answer(gallery.describe())


class GalleryTryHandler(UserHandler):
    @web.authenticated
    async def post(self) -> None:
        body = self.body

        def try_() -> dict[str, Any]:
            path = self.studio.try_template(body["template"], body["project"], body.get("name"))
            return self.studio.recipe_detail(self.studio.workspace.recipe_name(path))

        detail = await self.blocking(try_)
        # Quoted: a header is Latin-1, and a recipe's path may be any text (`営業/r.ipynb`).
        where = f"{self.app.api_root}/recipes/{quote(detail['recipe'])}"
        self.answer(detail, 201, {"Location": where})


# -- connections ---------------------------------------------------------------------------


class ConnectionsHandler(UserHandler):
    @web.authenticated
    async def get(self) -> None:
        infos = await self.blocking(self.studio.connections.list)
        self.answer({"connections": [info.to_dict() for info in infos]})

    @web.authenticated
    async def post(self) -> None:
        body = self.body

        def add() -> dict[str, Any]:
            fields = body.get("fields", {})
            info = self.studio.connections.add(body["name"], body["type"], fields, self.studio.user)
            return info.to_dict()

        info = await self.blocking(add)
        where = f"{self.app.api_root}/connections/{quote(info['name'])}"
        self.answer(info, 201, {"Location": where})


class ConnectionHandler(UserHandler):
    @web.authenticated
    async def get(self, name: str) -> None:
        self.answer((await self.blocking(self.studio.connections.get, name)).to_dict())

    @web.authenticated
    async def put(self, name: str) -> None:
        fields = self.body["fields"]

        self.answer((await self.blocking(self.studio.connections.update, name, fields)).to_dict())

    @web.authenticated
    async def delete(self, name: str) -> None:
        await self.blocking(self.studio.connections.remove, name)
        self.answer({"removed": name})


class ConnectionTestHandler(UserHandler):
    @web.authenticated
    async def post(self, name: str) -> None:
        self.answer((await self.blocking(self.studio.connections.test, name)).to_dict())


class PicklistHandler(UserHandler):
    """A connector's pick list (handoffs, skills...) through a connection."""

    @web.authenticated
    async def get(self, name: str, picklist: str) -> None:
        from ..client import ConnectionClient
        from ..redaction import scrub_text

        api = self.app.api_root

        def fetch() -> list[dict[str, Any]]:
            conn = self.studio.connections.open(name)
            try:
                options = ConnectionClient(conn).picklist(picklist)
            except LpstudioError:
                raise
            except Exception as exc:  # the app's or the network's failure, secrets scrubbed
                message = scrub_text(str(exc), self.studio.held_secrets())
                raise ApiError(
                    502,
                    "AppError",
                    f"connection {name} could not list {picklist}: {type(exc).__name__}: {message}",
                    field="connection",
                    fix=f"test the connection with POST {api}/connections/{name}/test",
                ) from None
            finally:
                conn.close()
            return [{"value": o.value, "label": o.label, "extra": o.extra} for o in options]

        self.answer({"options": await self.blocking(fetch)})


class ConnectorsHandler(UserHandler):
    @web.authenticated
    async def get(self) -> None:
        listing = await self.blocking(self.studio.connectors)
        # A broken connector's error names its file: by its path in the workspace, as
        # error answers name files (`Workspace.shown_in`).
        self.answer(self.studio.workspace.shown_in(listing))


# -- dashboard, users, audit, API clients --------------------------------------------------


class DashboardHandler(UserHandler):
    @web.authenticated
    async def get(self) -> None:
        from ..widgets.dashboard import day_range

        start, end = day_range(self.query["days"])
        self.answer(await self.blocking(self.studio.dashboard, start, end))


class MeHandler(UserHandler):
    @web.authenticated
    async def get(self) -> None:
        self.answer(await self.blocking(me, self.studio))


class GalleryPopupHandler(UserHandler):
    @web.authenticated
    async def post(self) -> None:
        def dismiss() -> dict[str, Any]:
            self.studio.store.dismiss_gallery_popup(self.studio.user)
            return me(self.studio)

        self.answer(await self.blocking(dismiss))


def me(studio: Studio) -> dict[str, Any]:
    """The calling user as the studio reads it: what their role may do, and whether the
    gallery pops up (the first time an admin opens the studio in this workspace; once
    dismissed, it stays away: remembered per person and workspace, not per OS account)."""
    role = studio.role
    can = {perm: role in roles for perm, roles in PERMISSIONS.items()}
    popup = can["admin"] and not studio.store.gallery_popup_dismissed(studio.user)
    return {"name": studio.user, "role": role, "can": can, "gallery_popup": popup}


class SchedulerHandler(UserHandler):
    @web.authenticated
    async def get(self) -> None:
        self.answer(await self.blocking(self.app.scheduler_status))


class UsersHandler(UserHandler):
    @web.authenticated
    async def get(self) -> None:
        self.answer({"users": await self.blocking(self.studio.users)})


class UserRoleHandler(UserHandler):
    @web.authenticated
    async def put(self, name: str) -> None:
        self.answer(await self.blocking(self.studio.set_role, name, self.body["role"]))


class AuditHandler(UserHandler):
    @web.authenticated
    async def get(self) -> None:
        entries = await self.blocking(self.studio.audit_entries, self.query["limit"])
        self.answer({"entries": entries})


class ApiClientsHandler(UserHandler):
    @web.authenticated
    async def get(self) -> None:
        self.answer({"api_clients": await self.blocking(self.studio.api_clients.list)})

    @web.authenticated
    async def post(self) -> None:
        body = self.body
        client, token = await self.blocking(
            self.studio.api_clients.create,
            body["name"],
            body["endpoints"],
            body.get("rate_per_minute", 60),
            body.get("quota_per_day"),
        )
        # The token is shown here, once; only its SHA-256 is kept.
        self.answer({**client, "token": token}, 201, {"Cache-Control": "no-store"})


class ApiClientHandler(UserHandler):
    @web.authenticated
    async def delete(self, name: str) -> None:
        self.answer(await self.blocking(self.studio.api_clients.revoke, name))


class OpenApiHandler(UserHandler):
    """The document, for Jupyter users whole; for an API client (its token instead of a
    Jupyter login) only the routes of callers and the endpoints it may call."""

    client: dict[str, Any] | None = None

    def unauthenticated(self) -> ApiError:
        """A bot's developer reads this document with the API client's token too."""
        # Not `UserHandler`'s 403 for an API client's token: this route takes one.
        error = BaseHandler.unauthenticated(self)
        error.fix = (
            "send an API client's token (`API-TOKEN: lps_...` or `Authorization: Bearer "
            "lps_...`), or the Jupyter server's (`Authorization: token ...`)"
        )
        return error

    async def check_caller(self) -> None:
        token = api_token(self.request.headers)
        if token and self.current_user is None:
            self.client = await self.blocking(self.app.service.api_clients.for_token, token)
            if self.client is None:
                raise unknown_token(self.request.headers)
            return
        await self.prepare_user()

    @allow_unauthenticated  # a Jupyter user or an API client, checked in check_caller()
    async def get(self) -> None:
        from ..webhooks import signature_readers
        from .openapi import openapi_document
        from .routes import CLIENT

        endpoints = await self.blocking(self.app.service.endpoints)
        routes = self.app.routes
        signatures = None  # a client's document has no webhook route
        if self.client is not None:
            allowed = self.client["endpoints"]
            endpoints = [e for e in endpoints if "*" in allowed or e["path"] in allowed]
            routes = tuple(r for r in routes if r.auth == CLIENT)
        else:  # the signature headers of the workspace's connectors' webhook triggers too
            signatures = await self.blocking(signature_readers, self.app.service.workspace.root)
        self.answer(
            openapi_document(routes, endpoints, self.base_url, self.app.repeat_window, signatures)
        )


# -- callers that are not users ------------------------------------------------------------


class CallHandler(ClientHandler):
    """`POST /call/<path>`: a callable recipe, called by an API client with its input in a
    JSON body, the query or both; `GET` with its input in the query alone (a bot's lookup),
    answered as that POST would be."""

    input_query = True

    @allow_unauthenticated
    async def post(self, path: str) -> None:
        await self.call(path)

    @allow_unauthenticated
    async def get(self, path: str) -> None:
        await self.call(path)

    async def call(self, path: str) -> None:
        from .calls import call

        key = sent_once("Idempotency-Key", self.request.headers.get_list("Idempotency-Key"))
        status, body, headers = await call(
            self.app,
            self.client,
            path,
            self.request.body,
            key,
            self.query["mode"],
            query=self.inputs,
            method=self.request.method or "POST",
            delivered=self.delivered,
            credentials=self.request_credentials(),
        )
        self.answer(body, status, headers)


class CallJobHandler(ClientHandler):
    """`GET /calls/<job>`: the answer of an asynchronous call, once its job is done."""

    @allow_unauthenticated
    async def get(self, job_id: str) -> None:
        from .calls import poll

        fix = "poll the job of one of this client's calls: its Lpstudio-Job header"
        number = job_number(job_id, fix)
        status, body, headers = await poll(self.app, self.client, number, self.delivered)
        self.answer(body, status, headers)


class HookHandler(NoXsrfHandler):
    """`POST /hooks/<hook id>`: a webhook event, queued for the recipe (kept while stopped)."""

    @allow_unauthenticated
    async def post(self, hook_id: str) -> None:
        for name in DELIVERY_ID_HEADERS:  # one id each, before any claim (`sent_once`)
            sent_once(name, self.request.headers.get_list(name))
        try:
            recipe, jobs, repeated = await self.received(hook_id)
        except SignatureError as exc:
            raise ApiError(401, "BadSignature", exc.message, field=exc.field, fix=exc.fix) from None
        except InputError as exc:
            if exc.field in DELIVERY_ID_HEADERS and isinstance(exc, DeliveryError):
                # a delivery id reused for another body
                raise ApiError(
                    409, "IdempotencyConflict", exc.message, field=exc.field, fix=exc.fix
                ) from None
            if exc.field not in ("body", *DELIVERY_ID_HEADERS) and not isinstance(
                exc, DeliveryError
            ):
                # Its settings, not the sender, are at fault: the reason is its admin's.
                await self.blocking(self.say_not_ready, hook_id, exc)
                raise hook_not_ready() from None
            raise  # 400: the body, a delivery id too long, or an event off the input schema
        self.app.hooks_not_ready.ready(hook_id)  # broken again, it is said again
        state, advice = await self.blocking(self.told, recipe, dict(self.request.headers))
        if repeated:
            message = f"a repeated delivery: its {len(jobs)} event(s) were queued before"
        elif state == "started":
            message = f"{len(jobs)} event(s) queued"
        else:
            message = f"the recipe is stopped: {len(jobs)} event(s) are kept until it starts"
        if advice:
            message += f"; {advice}"
        self.answer(
            {
                "accepted": 0 if repeated else len(jobs),
                "jobs": [j.id for j in jobs],
                "state": state,
                "repeated": repeated,
                "message": message,
            },
            200 if repeated else 202,
        )

    def say_not_ready(self, hook_id: str, exc: InputError) -> None:
        """Logs why the hook's recipe takes no delivery, once per recipe and reason until it
        takes one (`UnreadyHooks`): a sender retries, and each retry would say it again."""
        from ..webhooks import hooked_recipe

        fix = f"; fix: {exc.fix}" if exc.fix else ""
        said = scrub_text(f"{exc.message}{fix}", self.hidden)  # one line, as a log's
        if not self.app.hooks_not_ready.first(hook_id, said):
            return
        hooked = hooked_recipe(self.app.service, hook_id)
        self.log.warning(
            "lpstudio: recipe %s takes no webhook delivery until it is ready (each is "
            "answered 503, which its sender retries): %s",
            hooked[0] if hooked else f"of hook {hook_id[:8]}...",
            said,
        )

    def told(self, recipe: Recipe, headers: dict[str, str]) -> tuple[str, str]:
        """What a delivery's answer says besides its jobs: the recipe's state, and, for a
        delivery known by its body within a repeat window (`webhooks.repeat_window`: no
        delivery id, unsigned), how to make its repeats exact ("" for others). A trigger
        that cannot be read now (its connection changed since the delivery was queued)
        leaves the advice unsaid."""
        from ..webhooks import repeat_advice, repeat_window

        service = self.app.service
        state = service.recipe_detail(recipe.name)["state"]
        try:
            window = repeat_window(service, recipe, headers)
        except LpstudioError:
            window = 0.0
        return state, repeat_advice(window) if window else ""

    async def received(self, hook_id: str) -> tuple[Recipe, list[Job], bool]:
        """`Studio.receive_webhook`, its store waits bounded as a call's are, by the server's
        `call_timeout` (`calls.within`): the store's own busy timeout is 60 s, and senders
        give up after 5 to 30 s (Shopify after 5), then redeliver."""
        from .calls import Late, within

        timeout = self.app.call_timeout
        receive = self.blocking(
            self.app.service.receive_webhook,
            hook_id,
            dict(self.request.headers),
            self.request.body,
            self.request_credentials(),
            self.sent_query(),  # for its recipe (`lp.delivery`), as is each header
        )
        try:
            return await within(timeout, receive)
        except Late:
            raise delivery_store_busy(timeout) from None


def hook_not_ready() -> ApiError:
    """503 to a delivery whose recipe cannot take it yet, whatever the reason: the sender is
    unauthenticated, and learns nothing of the workspace (its connections, routes, fields).
    The reason is in the server's log (`HookHandler.say_not_ready`), `lpstudio recipes` and
    `lpstudio settings`."""
    return ApiError(
        503,
        "RecipeNotReady",
        "this hook cannot take deliveries yet",
        field="hook",
        fix="deliver it again later: its workspace has been told why",
        headers={"Retry-After": str(NOT_READY_RETRY_AFTER)},
    )


def delivery_store_busy(timeout: float) -> ApiError:
    """503 to a delivery whose store writes waited past `timeout`, as a call is told
    (`StoreBusy`, field `store`, nothing of the store's URL or folder): its signature was
    checked before any write. The write goes on, and may queue the delivery once the store
    is free: its redelivery under the same delivery id (or a signed body) is then answered
    as a repeat, or queues it."""
    return ApiError(
        503,
        "StoreBusy",
        f"the store stayed busy with other writes past this delivery's wait ({timeout:g} s, "
        "the server's call_timeout): it was not queued yet, and may be once the store is free",
        field="store",
        fix=f"deliver it again shortly under the same delivery id ({', '.join(DELIVERY_ID_HEADERS)}"
        "): it is queued once, and a repeat of one queued meanwhile is answered 200 with "
        '"repeated": true',
        headers={"Retry-After": "5"},
    )


class HealthHandler(NoXsrfHandler):
    """`GET /health`: whether this server serves its workspace and its store answers, for a
    load balancer's probe, which holds no credential (Jupyter's `/api/status` wants the
    server's full token). It says nothing else: 200 `{"status": "ok"}`, else the 503
    `ServiceUnavailable` every caller who is no user gets (`outsider_refusal`), with
    `Retry-After`. The store is read at each probe, and given up on after `HEALTH_WAIT` s:
    a probe is answered at once, where a read of a store another session locked (a
    PostgreSQL migration under way) waits with no end."""

    async def check_caller(self) -> None:
        """None: anyone may ask, and a body is not read."""

    async def look_at_store(self) -> None:
        if self.app.workspace_error is not None:
            return  # `prepare` refuses it
        from .calls import Late

        try:
            await self.app.look_within(HEALTH_WAIT)
        except Late:
            raise service_unavailable() from None

    @allow_unauthenticated
    async def get(self) -> None:
        self.answer({"status": "ok"}, headers={"Cache-Control": "no-store"})


#: The seconds a health probe waits for the store (`HealthHandler`): load balancers give up
#: after 2 to 5 s.
HEALTH_WAIT = 2.0


class NotFoundHandler(NoXsrfHandler):
    """Any other path under the API, and under `lpstudio serve` any path at all
    (`serveonly.ServeOnlyServerApp`): a JSON 404. A route's path with a `/` added
    (`/recipes/shop/cart.ipynb/`) is told to drop it: no route's path ends in one; a recipe
    named without its `.ipynb` (`/recipes/shop/cart/run`), as the command line takes it, is
    told to add it."""

    @allow_unauthenticated
    async def prepare(self) -> None:  # type: ignore[override]
        await super().prepare()
        from .routes import ROUTES

        def routed(rest: str) -> bool:
            return any(re.fullmatch(r.pattern, rest) for r in ROUTES)

        path = self.request.path
        api = self.app.api_root
        _, _, rest = path.rstrip("/").partition(api)
        if path.endswith("/") and routed(rest):
            hint = f"drop the trailing / ({path.rstrip('/')}); "
        elif (named := _with_ipynb(rest, routed)) is not None:
            self._refuse_outside(named)
            hint = f"add .ipynb to the recipe's path ({api}{named}); "
        else:
            hint = ""
        raise ApiError(
            404,
            _code(404),
            f"no route {path}",
            field="path",
            fix=f"{hint}the routes are in {api}/openapi.json",
        )

    def _refuse_outside(self, named: str) -> None:
        """Refuses (400) the recipe of a route's path with `.ipynb` added (`_with_ipynb`) as
        that route refuses it, when it is no path under projects/: an absolute path, or
        one leading out (`..%2F..%2Fsecret.key`), was advised to add .ipynb to it."""
        workspace = getattr(self.app, "lpstudio_workspace", None)
        if workspace is None:
            return
        recipe = unquote(named.removeprefix("/recipes/").partition(".ipynb")[0]) + ".ipynb"
        workspace.refuse_server_path(recipe)
        workspace.inside(workspace.projects / recipe, workspace.projects, "recipe", "recipe")


def _with_ipynb(rest: str, routed: Callable[[str], bool]) -> str | None:
    """`rest` (`/recipes/shop/cart/run`) with `.ipynb` added where a route takes a recipe
    (`/recipes/shop/cart.ipynb/run`), the shortest recipe path first; None when no route
    takes it so, or when it names a recipe with its `.ipynb` already."""
    head, slash, tail = rest.partition("/recipes/")
    parts = tail.split("/")
    if head or not slash or any(part.endswith(".ipynb") for part in parts):
        return None
    for end in range(1, len(parts) + 1):
        named = "/".join([f"/recipes/{'/'.join(parts[:end])}.ipynb", *parts[end:]])
        if routed(named):
            return named
    return None
