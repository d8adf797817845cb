"""The OpenAPI 3.1 document of the REST API, built from the route table and the started
callable recipes (each with its own input and response schemas)."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import quote

from referencing import Registry
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from ..idempotency import DELIVERY_ID_HEADERS, MAX_KEY_LENGTH
from ..jsonschemas import references
from .handlers import HEALTH_WAIT, PREFIX
from .routes import ANYONE, ASYNC_ANSWER, CLIENT, OPEN, USER, Route
from .schemas import COMPONENTS, ERROR_REF

if TYPE_CHECKING:
    from ..sdk import WebhookTrigger

#: The webhook triggers that read each signature header, by header (`signature_readers`).
Signatures = Mapping[str, Sequence[tuple[str, "WebhookTrigger"]]]

_ERRORS = {
    USER: {
        "400": "Invalid input (the field is named), or a change the store's permissions "
        "refused once the server serves (StoreUnwritable, field store.url: give the server's "
        "user write access to its SQLite file and folder)",
        "401": "No Jupyter user",
        "403": "The user's role does not allow it, or an API client's token was sent (it "
        "reaches only the calls' routes)",
        "404": "Not found",
    },
    CLIENT: {
        "400": "Input that does not fit the input schema (in the body or the query), a field "
        "given in both with two values, a GET call with a body, or a query parameter the "
        "route does not take or given twice (the field is named)",
        "401": "Missing, unknown or revoked API token",
        "404": "Unknown or stopped endpoint, or one the client may not call",
        "409": "Idempotency-Key reused for another request, or a repeat whose first request "
        "is still starting (see Retry-After)",
        "413": "The body is larger than the server takes",
        "410": "The job's answer was purged after the retention period (error.job)",
        "422": "The job failed (its id is in error.job)",
        "429": "Over the client's rate limit or daily quota (see Retry-After)",
        "502": "The recipe answered nothing, or off its response schema",
        "503": "The recipe's own settings are incomplete or broken, or its notebook broke "
        "(RecipeNotReady, naming the field at fault: its admin is told why in the server's "
        "log), or the store stayed busy past the call timeout (StoreBusy): nothing queued; "
        "retry after Retry-After",
        "504": "No answer within the call timeout; the job goes on (error.job)",
    },
    OPEN: {
        "400": "The body is not JSON, or an event does not fit the recipe's input schema "
        "(its field is named: `phone`, or `2.phone` in a delivery of several events); "
        "nothing is queued, and the corrected delivery may reuse its delivery id",
        "401": "Missing or wrong signature (the signature header sent is named)",
        "404": "Unknown hook",
        "409": "A delivery id reused with another body, or a delivery still being queued "
        "(see Retry-After)",
        "413": "The body is larger than the server takes",
        "503": "The hook cannot take deliveries yet (its recipe's settings are incomplete, or "
        "its connector's code failed): retry later (see Retry-After); the reason is its "
        "workspace's, told in the server's log",
    },
    ANYONE: {},
}

#: An origin the server does not allow, refused on every route before anything runs
#: (`BaseHandler.origin_not_allowed`).
_ORIGIN_REFUSED = (
    "The request's Origin is not allowed by the server (field `Origin`, naming the option "
    "that allows it): a browser app's own origin, never a script's or a bot's (they send none)"
)
#: A store that cannot be served, as a caller who is no Jupyter user is told it
#: (`BaseHandler.outsider_refusal`): nothing of the store is named.
_SERVICE_UNAVAILABLE = (
    "The store cannot be reached or was upgraded by a newer lpstudio, or the workspace was "
    "never activated: ServiceUnavailable, nothing done (see Retry-After)"
)
#: What lpstudio answers of its own fault (`BaseHandler.write_error`): the error body, no
#: traceback; what the request did is not known to the answer.
_INTERNAL = (
    "The server failed to answer: InternalError, its log holds why; what the request did is "
    "not known, so read what it would have changed before you send it again"
)
#: What any request of a route may be answered, whatever its operation or its own errors:
#: Jupyter's origin check and the store's state (`BaseHandler.prepare`), and for a caller
#: that is no Jupyter user the size of its body (`NoXsrfHandler.check_caller`).
_ANY_REQUEST = {
    USER: {
        "403": _ORIGIN_REFUSED,
        "503": "The store cannot be reached or its SQLite file's disk is full or failing "
        "(StoreUnavailable, see Retry-After), was upgraded "
        "by a newer lpstudio (StoreUpgraded: upgrade this server too), may not be written "
        "by the server's user, its SQLite file or folder (StoreUnwritable: give it write "
        "access), or the workspace was never activated (NoWorkspace), each naming the field "
        "and the fix; to an API token without a Jupyter login, ServiceUnavailable (see "
        "Retry-After)",
        "500": _INTERNAL,
    },
    CLIENT: {
        "403": _ORIGIN_REFUSED,
        "413": _ERRORS[CLIENT]["413"],
        "500": _INTERNAL,
        "503": _SERVICE_UNAVAILABLE,
    },
    OPEN: {
        "403": _ORIGIN_REFUSED,
        "413": _ERRORS[OPEN]["413"],
        "500": _INTERNAL,
        "503": _SERVICE_UNAVAILABLE,
    },
    ANYONE: {
        "403": _ORIGIN_REFUSED,
        "500": _INTERNAL,
        "503": "The workspace cannot be served now: its store cannot be reached, did not "
        f"answer within {HEALTH_WAIT:g} s, or was upgraded by a newer lpstudio, or the "
        "workspace was never activated (ServiceUnavailable, naming none of it; see "
        "Retry-After)",
    },
}

#: The error statuses whose answer may say when to try again (`Retry-After`): a repeat
#: still starting (409), a rate or quota (429), a store that is busy or out of reach (503).
_RETRIED = ("409", "429", "503")
_RETRY_AFTER: dict[str, Any] = {
    "description": "the seconds to wait before sending the same request again, where the "
    "server knows them",
    "schema": {"type": "integer", "minimum": 0},
}

#: The job a call or a poll answers from (`calls.call`, `calls.poll`): on any status, as
#: the recipe's own answer may have any; none on a refusal before a job started.
_JOB_HEADER: dict[str, Any] = {
    "description": "the id of the job this answer comes from (the recipe's answer, its 202 "
    "to poll, its timeout or failure), to poll at /calls/{job_id}; absent when the request "
    "was refused before any job started",
    "schema": {"type": "integer", "minimum": 1},
}
#: A repeat of a call (`calls._repeat`), whatever its status: the first request's answer.
_REPLAYED_HEADER: dict[str, Any] = {
    "description": "`true` when the request repeats an earlier one (its Idempotency-Key, or "
    "without one the same request within the repeat window): the answer is the first "
    "request's, or its job's as it is now, and nothing ran again; absent on a first request",
    "schema": {"type": "string", "const": "true"},
}

_SECURITY = {
    USER: [{"jupyterToken": []}],
    CLIENT: [{"apiToken": []}, {"bearer": []}],
    OPEN: [],
    ANYONE: [],
}


def _path_parameters(route: Route) -> list[dict[str, Any]]:
    names = re.findall(r"{(\w+)}", route.path)
    return [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {
                k: v for k, v in route.parameters.get(name, {}).items() if k != "description"
            }
            or {"type": "string"},
            "description": route.parameters.get(name, {}).get("description", ""),
        }
        for name in names
    ]


def _error_texts(auth: str, only: tuple[str, ...] | None = None) -> dict[str, str]:
    """The errors of a route's operation: those it answers of its callers' (`only`, else
    all), and those any request of the route may get (`_ANY_REQUEST`), each described once
    with every reason for it."""
    own = {code: text for code, text in _ERRORS[auth].items() if only is None or code in only}
    every = _ANY_REQUEST[auth]
    return {
        code: "; or ".join(dict.fromkeys(text for text in (own.get(code), every.get(code)) if text))
        for code in {**own, **every}
    }


def _errors(auth: str, only: tuple[str, ...] | None = None) -> dict[str, Any]:
    return {code: _error(code, text) for code, text in _error_texts(auth, only).items()}


def _error(status: str, description: str, schema: dict[str, Any] = ERROR_REF) -> dict[str, Any]:
    """An error answer, with the `Retry-After` header its status may carry (`_RETRIED`)."""
    answer = _answer(description, schema)
    if status in _RETRIED:
        answer["headers"] = {"Retry-After": _RETRY_AFTER}
    return answer


def _answer(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _other_methods(route: Route) -> dict[str, Any]:
    """The answer to any method the route does not take (`BaseHandler.not_allowed`), with the
    `Allow` header naming those it takes. OpenAPI lists a path's operations only, and a
    client reads a path item's keys as its methods: it is held in an extension of the
    document's own, by path (`x-other-methods`)."""
    allowed = ", ".join(route.operations)
    return {
        "405": {
            "description": "Any other method (a browser's CORS preflight from an allowed origin "
            "aside): MethodNotAllowed (field `method`), nothing done",
            "headers": {
                "Allow": {
                    "description": "the methods this path takes",
                    "required": True,
                    "schema": {"type": "string", "const": allowed},
                }
            },
            "content": {"application/json": {"schema": ERROR_REF}},
        }
    }


#: A callable recipe's own answer that is no success: its body is whatever the recipe
#: gave (its response schema describes successes only).
_RECIPE_OWN: dict[str, Any] = {
    "description": "the recipe's own body, as lpstudio.kernel.respond(body, status) gave it"
}


def _call_answers(
    success: dict[str, Any],
    more: dict[str, tuple[str, dict[str, Any]]],
    errors: dict[str, str],
    replays: bool = True,
) -> dict[str, Any]:
    """The answers of a call, or of a poll of its job (no `replays`): `respond(body, status)`
    answers any status from 200 to 599 (not 202, 204 or 304), so each status the server answers
    itself may also be the recipe's own, and a client must decode either; any 2xx is a
    success, whose body fits the response schema. Any of them may name its job, and a
    call's repeat any of them its first request's."""

    def own(status: str) -> dict[str, Any]:
        return success if status.startswith("2") else _RECIPE_OWN

    sent = {
        "Lpstudio-Job": _JOB_HEADER,
        **({"Idempotent-Replayed": _REPLAYED_HEADER} if replays else {}),
    }
    answers = {
        "2XX": _answer(
            "The recipe's answer, with the success status it gave (200 unless it said otherwise)",
            success,
        ),
        **{  # 202 is the server's alone: a recipe may not answer it (`answer_status`)
            status: _answer(text, schema)
            if status == "202"
            else _answer(f"{text}; or the recipe's own answer", {"anyOf": [schema, own(status)]})
            for status, (text, schema) in more.items()
        },
        **{
            status: _error(
                status,
                f"{text}; or the recipe's own answer with this status",
                {"anyOf": [ERROR_REF, own(status)]},
            )
            for status, text in errors.items()
        },
        "default": _answer(
            "The recipe's own answer with another status (200 to 599), or the server's error",
            {"anyOf": [ERROR_REF, _RECIPE_OWN]},
        ),
    }
    return {
        status: {**answer, "headers": {**answer.get("headers", {}), **sent}}
        for status, answer in answers.items()
    }


def _answered(route: Route, op: Any) -> dict[str, Any]:
    """The operation's answer, with the fields its handler adds to it (`answer_fields`),
    each required: the handler answers them always. Held beside it in an `allOf`, as a
    generated client merges them: beside a `$ref` (a component's) it would read them not."""
    fields: dict[str, Any] = getattr(route.handler, "answer_fields", {})
    if not fields:
        return op.answer
    added = {"type": "object", "required": [*fields], "properties": fields}
    return {"allOf": [op.answer, added]}


def _responses(route: Route, op: Any) -> dict[str, Any]:
    if op.recipe_answers:
        return _call_answers(
            op.answer, op.more, _error_texts(route.auth, op.errors), replays=_takes_input(route)
        )
    content = op.content or {"application/json": _answered(route, op)}
    return {
        str(op.status): {
            "description": "Success",
            **({"headers": op.headers} if op.headers else {}),
            "content": {media: {"schema": schema} for media, schema in content.items()},
        },
        **{status: _answer(*answer) for status, answer in op.more.items()},
        **_errors(route.auth, op.errors),
    }


#: The query of a call, at the route of every callable: besides `mode`, the recipe's input
#: fields (each callable's own path lists its fields).
_CALL_INPUT: dict[str, Any] = {
    "name": "input",
    "in": "query",
    "required": False,
    "style": "form",
    "explode": True,
    "schema": {"type": "object", "additionalProperties": {"type": "string"}},
    "description": "the recipe's input fields, typed by its input schema (each callable's "
    "own path lists them): every query parameter but the route's own; a GET call's whole "
    "input",
}


def _takes_input(route: Route) -> bool:
    """Whether the route's query parameters it does not declare are a call's input fields."""
    return bool(getattr(route.handler, "input_query", False))


def _idempotency_key(repeat_window: float) -> dict[str, Any]:
    """A call's `Idempotency-Key` (`CallHandler`, `calls.call`), at the route of every
    callable and at each callable's own path."""
    return {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "schema": {"type": "string", "maxLength": MAX_KEY_LENGTH},
        "description": _repeats(repeat_window),
    }


def _delivery_id(name: str) -> dict[str, Any]:
    """A header a webhook sender names its delivery in (`idempotency.delivery_id`)."""
    return {
        "name": name,
        "in": "header",
        "required": False,
        "schema": {"type": "string", "maxLength": MAX_KEY_LENGTH},
        "description": "the sender's id of this delivery (of "
        f"{', '.join(DELIVERY_ID_HEADERS)}, the first the delivery carries is read): a "
        "redelivery under the same id with the same body queues nothing new and is answered "
        '200 with "repeated": true (as a signed body sent again is, under any id or none); '
        "the same id with another body is refused 409, naming the header; an unsigned "
        "delivery without one is known by its body alone: the same body again within "
        "the workspace's `webhooks.repeat_window_seconds` (600 by default) is taken as a "
        "repeat",
    }


def _signature(name: str, readers: Sequence[tuple[str, WebhookTrigger]]) -> dict[str, Any]:
    """A header webhook triggers read a delivery's signature in (`webhooks._verified`), with
    what each trigger that reads it takes there."""

    def read(connector: str, trigger: WebhookTrigger) -> str:
        held = trigger.signature_formats.get(name) or (
            f"a signature as it reads it ({trigger.description.rstrip('.')})"
            if trigger.description
            else "a signature as it reads it"
        )
        return (
            f"connector {connector}'s {trigger.name} trigger ({trigger.title}) reads "
            f"{held}, keyed with the {trigger.secret_field} of the connection the recipe's "
            "trigger names"
        )

    return {
        "name": name,
        "in": "header",
        "required": False,
        "schema": {"type": "string"},
        "description": "the delivery's signature, checked when the hook's recipe has a webhook "
        "trigger that names a connection (else deliveries are taken unsigned): "
        + "; ".join(read(*reader) for reader in readers)
        + ". Each signature header sent must match: a delivery with none, or with a wrong "
        "one, is refused 401 naming the header, and nothing is queued",
    }


def _request_headers(route: Route, repeat_window: float, signatures: Signatures) -> list[Any]:
    """The request headers the route's handler reads: a call's `Idempotency-Key`; a webhook
    delivery's signatures and delivery id (OPEN is a webhook sender's route)."""
    if _takes_input(route):
        return [_idempotency_key(repeat_window)]
    if route.auth != OPEN:
        return []
    ids = {name.lower() for name in DELIVERY_ID_HEADERS}
    return [
        *(
            _signature(name, readers)
            for name, readers in signatures.items()
            if name.lower() not in ids
        ),
        *(_delivery_id(name) for name in DELIVERY_ID_HEADERS),
    ]


def _operation(
    route: Route, op: Any, repeat_window: float = 60.0, signatures: Signatures | None = None
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "tags": [route.tag] if route.tag else [],
        "security": _SECURITY[route.auth],
        "parameters": _path_parameters(route)
        + _request_headers(route, repeat_window, signatures or {})
        + [
            {"name": name, "in": "query", "required": False, "schema": schema}
            for name, schema in op.query.items()
        ]
        + ([_CALL_INPUT] if _takes_input(route) else []),
        "responses": _responses(route, op),
    }
    if route.auth == USER:
        doc["x-lpstudio-permission"] = op.permission
    if op.upload is not None:
        media = op.upload[0]
        doc["requestBody"] = {
            "required": True,
            "content": {media: {"schema": {"type": "string", "contentMediaType": media}}},
        }
    setting = op.upload[1] if op.upload else op.capped[0] if op.capped else None
    if setting is not None:
        doc["responses"]["413"] = _answer(
            f"The body is larger than the server takes (LpstudioApp.{setting})", ERROR_REF
        )
    if op.body is not None:
        doc["requestBody"] = {
            # A user's empty body reads as {}, as a call's does; a sender's is refused.
            "required": not (route.auth == USER or _takes_input(route))
            or bool(op.body.get("required")),
            "content": {"application/json": {"schema": op.body}},
        }
    return doc


def _repeats(window: float) -> str:
    """What the Idempotency-Key header's description says of repeats."""
    keyed = "a repeated request with the same key is answered the same, and runs nothing"
    if not window > 0:
        return keyed
    return (
        f"{keyed}; without a key, a request identical to one of the last {window:g} s whose "
        "job still runs, failed or answered 5xx is taken for its retry the same way (once "
        "the recipe answered it, the same request is a new call)"
    )


def _textual(field: dict[str, Any]) -> bool:
    """Whether a query's text can give a field: not one that takes only objects or arrays."""
    declared = field.get("type", [])
    kinds = {declared} if isinstance(declared, str) else set(declared)
    return not kinds or not kinds <= {"object", "array"}


#: The base URI an input schema's own `$ref`s resolve from (`_declarations`).
_BASE = "urn:lpstudio:input"


class _Part(NamedTuple):
    """A part of an input schema that declares the input's own fields, and whether its
    `$ref` leads to another such part (`_declarations`)."""

    schema: dict[str, Any]
    follows: bool


def _declares(item: Any) -> bool:
    """Whether a schema reached from the root is a part of the root's: not one with an `$id`,
    the base of its own `$ref`s."""
    return isinstance(item, dict) and "$id" not in item


def _declarations(schema: dict[str, Any]) -> list[_Part]:
    """The parts of an input schema that declare the input's own fields (`properties`,
    `required`): the schema, what its `$ref` leads to, its `allOf`'s items, and theirs in
    turn, each once. JSON Schema applies them all to the input, as the call's check does
    (`calls._misfits`, which types the query's fields wherever they are declared), and a
    `$ref` from the root is resolved by `referencing`, as jsonschema resolves it there. A
    branch of an `anyOf` applies to some inputs only: its fields are left to the body."""
    resolver = Registry().with_resource(_BASE, DRAFT202012.create_resource(schema))
    lookup = resolver.resolver(base_uri=_BASE).lookup
    found: list[_Part] = []
    seen: set[int] = set()

    def target(part: dict[str, Any]) -> dict[str, Any] | None:
        ref = part.get("$ref")
        if not isinstance(ref, str) or not (ref == "#" or ref.startswith("#/")):
            return None
        try:
            contents = lookup(ref).contents
        except Unresolvable:  # the recipe's check refuses it: never served
            return None
        return contents if _declares(contents) else None

    def walk(part: dict[str, Any]) -> None:
        seen.add(id(part))
        led = target(part)
        found.append(_Part(part, led is not None))
        for item in (led, *part.get("allOf", ())):
            if _declares(item) and id(item) not in seen:
                walk(item)

    walk(schema)
    return found


def _input_fields(parts: list[_Part], at: str, own: set[str], whole: bool) -> list[dict[str, Any]]:
    """A callable's input fields that its query may give, wherever its input schema declares
    them (`_declarations`; a field declared in several parts has all their schemas): those
    a query's text can hold, not named as the route's own parameters, required when the
    query is the `whole` input (GET). `at` is the input schema's place in the document."""
    declared: dict[str, list[Any]] = {}
    for part in parts:
        for name, field in part.schema.get("properties", {}).items():
            declared.setdefault(name, []).append(field)
    required = {name for part in parts for name in part.schema.get("required", ())}
    fields = []
    for name, schemas in declared.items():
        if name in own or not all(isinstance(f, dict) and _textual(f) for f in schemas):
            continue
        placed = [_located(field, at) for field in schemas]
        fields.append(
            {
                "name": name,
                "in": "query",
                "required": whole and name in required,
                "schema": placed[0] if len(placed) == 1 else {"allOf": placed},
                "description": "an input field"
                + ("" if whole else " (in the body or the query; a field in both has one value)"),
            }
        )
    return fields


def _unrequired(part: _Part, at: str) -> dict[str, Any]:
    """A part of the input schema as a POST body holds it (`_body`): without its `required`,
    nor what leads to its other parts (its `$ref`, its `allOf`), which the body holds beside
    it."""
    held = _located(part.schema, at)
    kept = [item for item in held.get("allOf", ()) if not _declares(item)]
    left = {"required", "allOf", *(("$ref",) if part.follows else ())}
    return {k: v for k, v in held.items() if k not in left} | ({"allOf": kept} if kept else {})


def _body(parts: list[_Part], at: str) -> dict[str, Any]:
    """A POST call's body, which may be left out (read as {}): the input schema with no
    field required, wherever it declares them (`_declarations`), since a required field may
    come in the query instead (the body and the query's fields are checked together). Each
    part that declares fields is held beside the schema's own, in its `allOf`, as JSON
    Schema applies them all."""
    required = ", ".join(
        dict.fromkeys(name for part in parts for name in part.schema.get("required", ()))
    )
    root, *more = (_unrequired(part, at) for part in parts)
    if more:
        root["allOf"] = [*root.get("allOf", ()), *more]
    return {
        "required": False,
        "description": "the input as a JSON object (none, or {}, when the query gives it all)"
        + (f"; its required fields ({required}) come in the body or the query" if required else "")
        + ": the body with the query's fields is checked against the input schema; a field "
        'given as text where the schema takes a number or a boolean ("5", "true", as a '
        "bot's quoted variable) is read as the query's text is",
        "content": {"application/json": {"schema": root}},
    }


def _ident(endpoint: dict[str, Any]) -> str:
    """A callable's path as its operations' ids and its input schema's name hold it: letters
    and digits as they are, `_` doubled, any other character percent-encoded with `_` for
    `%` (`optin-2` is `optin_2D2`, `optin_2` is `optin__2`). No two paths give the same, and
    no suffix the document adds (`_get`, `_input`: `_` and a small letter) reads as part of
    one: each id is unique, and its path's own whatever other callables are started."""
    return "".join(_ident_char(char) for char in endpoint["path"])


def _ident_char(char: str) -> str:
    if char.isascii() and char.isalnum():
        return char
    return "__" if char == "_" else "".join(f"_{byte:02X}" for byte in char.encode())


def _input_name(endpoint: dict[str, Any]) -> str:
    return f"call_{_ident(endpoint)}_input"


def _located(schema: dict[str, Any], at: str) -> dict[str, Any]:
    """`schema` held at `at` (a JSON pointer) in the document: the document is the base of
    the schemas it holds, so a `$ref` (or `$dynamicRef`) from the schema's root
    (`#/$defs/...`) must name its place in the document (one with an `$id` is a base of its
    own)."""
    if "$id" in schema:
        return schema
    placed = copy.deepcopy(schema)
    for path, keyword, ref, base, _ in references(schema):
        if base == () and (ref == "#" or ref.startswith("#/")):
            node = placed
            for part in path:
                node = node[part]
            node[keyword] = at + ref[1:]
    return placed


def _input_at(endpoint: dict[str, Any]) -> str:
    """Where the document holds a callable's whole input schema (`_input_schemas`): its
    fields and its body are copied out of it, their `$ref`s from its root pointing there."""
    return f"#/components/schemas/{_input_name(endpoint)}"


def _input_schemas(endpoints: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The input schemas with `$ref`s from their root, by name, for the components."""
    held = {
        _input_name(e): (_located(e["input_schema"], _input_at(e)), e["input_schema"])
        for e in endpoints
    }
    return {name: placed for name, (placed, schema) in held.items() if placed != schema}


def _endpoint(endpoint: dict[str, Any], repeat_window: float, route: Route) -> dict[str, Any]:
    """A started callable recipe as its own path, with its schemas, by each method of the
    route of every callable (`route`): its input fields in the query, and in a body."""
    doc: dict[str, Any] = {}
    ident = _ident(endpoint)
    parts = _declarations(endpoint["input_schema"])
    at = _input_at(endpoint)
    for method, op in route.operations.items():
        doc[method.lower()] = {
            "operationId": f"call_{ident}" + ("" if method == "POST" else f"_{method.lower()}"),
            "summary": endpoint["title"],
            "description": f"{endpoint['description']}\n\nRecipe: `{endpoint['recipe']}`.",
            "tags": ["callable recipes"],
            "security": _SECURITY[CLIENT],
            "parameters": [
                _idempotency_key(repeat_window),
                *(
                    {"name": name, "in": "query", "required": False, "schema": schema}
                    for name, schema in op.query.items()
                ),
                *_input_fields(parts, at, set(op.query), op.body is None),
            ],
            "responses": _call_answers(
                endpoint["response_schema"] or {}, ASYNC_ANSWER, _error_texts(CLIENT)
            ),
        }
        if op.body is not None:
            doc[method.lower()]["requestBody"] = _body(parts, at)
    return doc


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lpstudio")
    except PackageNotFoundError:
        return "0"


def openapi_document(
    routes: tuple[Route, ...],
    endpoints: list[dict[str, Any]],
    base_url: str = "/",
    repeat_window: float = 60.0,
    signatures: Signatures | None = None,
) -> dict[str, Any]:
    """The document of `routes` and the started callables (`endpoints`); `signatures`, the
    webhook triggers reading each signature header (`webhooks.signature_readers` of the
    workspace: else of the connectors bundled and installed), for the webhook route."""
    if signatures is None and any(route.auth == OPEN for route in routes):
        from ..webhooks import signature_readers

        signatures = signature_readers()
    paths: dict[str, Any] = {}
    other_methods: dict[str, Any] = {}
    for route in routes:
        paths[route.path] = {
            method.lower(): _operation(route, op, repeat_window, signatures)
            for method, op in route.operations.items()
        }
        other_methods[route.path] = _other_methods(route)
    call = next((route for route in routes if _takes_input(route)), None)
    callables = endpoints if call is not None else []
    for endpoint in callables:
        # As a URL holds it: a path the route takes percent-encoded (`two words`).
        path = f"/call/{quote(endpoint['path'])}"
        paths[path] = _endpoint(endpoint, repeat_window, call)
        other_methods[path] = _other_methods(call)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "lpstudio",
            "version": _version(),
            "description": "Recipes, jobs, connections and callable recipes of one workspace. "
            "A method a path does not take is answered 405 with the error body and an `Allow` "
            "header naming those it takes (`x-other-methods`, by path).",
        },
        "servers": [{"url": base_url.rstrip("/") + PREFIX}],
        "paths": paths,
        "x-other-methods": other_methods,
        "components": {
            "schemas": {**COMPONENTS, **_input_schemas(callables)},
            "securitySchemes": {
                "jupyterToken": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "`token <the Jupyter server's token>` (or a login cookie)",
                },
                "apiToken": {"type": "apiKey", "in": "header", "name": "API-TOKEN"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
        },
    }
